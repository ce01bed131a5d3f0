"""The example plan that `doithoai demo` loads."""
