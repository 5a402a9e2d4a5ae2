//! Ranger optimizer (placeholder until written).
