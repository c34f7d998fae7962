//! Compile-time guarantees: each case under `tests/ui/` must fail to compile with the
//! message checked in beside it.

#[test]
fn compile_fail() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
