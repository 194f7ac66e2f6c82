//! Cross-crate integration tests live in `tests/tests/`, one global-allocator setup per file.
