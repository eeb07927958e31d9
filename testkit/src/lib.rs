//! Throwaway PostgreSQL clusters for tests (being written).
