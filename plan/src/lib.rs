//! The migration plan (being written).
