//! Network layer (issue 4).
