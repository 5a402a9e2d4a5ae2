//! The width list and the dispatch macro name the same widths (they are
//! written twice because a macro cannot iterate a const array).

use conflicting_bundles::experiments::widths::{check_width, WIDTHS};
use conflicting_bundles::with_width;

#[test]
fn every_listed_width_dispatches_to_itself() {
    for w in WIDTHS {
        let got: anyhow::Result<usize> = with_width!(w, W => Ok(W));
        assert_eq!(got.unwrap(), w);
        assert!(check_width(w).is_ok());
    }
    let bad: anyhow::Result<usize> = with_width!(7usize, W => Ok(W));
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("width 7 is not compiled in"));
}
