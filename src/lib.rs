//! Examples, integration tests and benchmarks of tenant-query live in examples/, tests/ and benches/.
