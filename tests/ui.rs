//! Compile-time guarantees: each case under `tests/ui/` must fail to compile with the
//! message checked in beside it.

#[test]
fn compile_fail() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui-pass/*.rs");
}
