//! The rolling update engine.
