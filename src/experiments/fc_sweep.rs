//! FC sweep (placeholder).
