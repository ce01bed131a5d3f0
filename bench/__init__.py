"""doithoai's benchmarks: `python -m bench inbound|outbound|scale` (see bench/__main__.py and the README's Benchmarks)."""
