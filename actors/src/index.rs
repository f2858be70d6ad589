//! Ordered secondary indexes: (value key, document id). STUB.
