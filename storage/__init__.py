"""Storage: tables, repositories, the unit of work and migrations. Nothing above this package writes SQL."""
