//! alloc-tracker (in progress).
