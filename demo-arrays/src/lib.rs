//! demo-arrays (in progress).
