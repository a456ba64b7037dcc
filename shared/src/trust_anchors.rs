//! Trust anchors compiled in at build time from the PEM file named by `EDGEWARD_TRUST_ANCHORS`
//! (see `build.rs`). An empty list means no x5c token can validate: the gateway fails closed.

include!(concat!(env!("OUT_DIR"), "/trust_anchors.rs"));
