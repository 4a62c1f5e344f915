//! GitHub reporting.
