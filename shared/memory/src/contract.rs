//! Port contracts (filled in below).
