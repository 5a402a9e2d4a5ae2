//! Natural order of names: runs of ASCII digits compare as numbers, so that
//! `layer2` sorts before `layer10` (a folder of per-layer files is usually
//! numbered without leading zeros).

use std::cmp::Ordering;

/// Compares `a` and `b` run by run: digit runs by numeric value (of any
/// length: leading zeros are skipped and the longer run is the larger), other
/// text by bytes. Names equal under that (`a01`, `a1`) fall back to plain
/// byte order, so the order is total and the same on every machine.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (m, rest_x) = digit_run(x);
                let (n, rest_y) = digit_run(y);
                let by_value = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                (x, y) = (rest_x, rest_y);
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

/// The significant digits of the run of digits `s` starts with (leading
/// zeros dropped), and what follows the run.
fn digit_run(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let zeros = s[..end].iter().take_while(|&&c| c == b'0').count();
    (&s[zeros..end], &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        let mut names = vec![
            "layer10",
            "layer2",
            "layer1",
            "a",
            "layer02",
            "b3c10",
            "b3c9",
            "layer",
            "99999999999999999999999",
            "100000000000000000000000",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "99999999999999999999999",
                "100000000000000000000000",
                "a",
                "b3c9",
                "b3c10",
                "layer",
                "layer1",
                "layer02",
                "layer2",
                "layer10",
            ]
        );
    }
}
