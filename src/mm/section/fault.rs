//! Prototype PTE faults and copy-on-write.
