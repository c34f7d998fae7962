//! Placement of tenants: the harness's extra servers, and each isolation model behind one
//! scope.

#[path = "placement/harness.rs"]
mod harness;
