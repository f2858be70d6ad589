//! The total order of JSON values (CONTRACT section 7) and order-preserving keys. STUB.
