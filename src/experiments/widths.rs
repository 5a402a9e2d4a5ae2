//! Width is a const generic of [`Fnn`](crate::models::Fnn), so a sweep
//! instantiates the widths it may need; this module lists them and
//! dispatches a runtime width to the matching instantiation.

/// Widths compiled into the library (the paper's Figure 1 range).
pub const WIDTHS: [usize; 10] = [2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000];

/// Runs `$body` with `const $W: usize` set to `$width`, or evaluates to an
/// error naming the supported widths.
#[macro_export]
macro_rules! with_width {
    ($width:expr, $W:ident => $body:expr) => {
        $crate::with_width!(@arms $width, $W, $body, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000)
    };
    (@arms $width:expr, $W:ident, $body:expr, $($w:literal),+) => {
        match $width {
            $($w => {
                const $W: usize = $w;
                $body
            })+
            other => Err($crate::experiments::widths::unsupported(other)),
        }
    };
}

/// The error for a width that is not compiled in.
pub fn unsupported(width: usize) -> anyhow::Error {
    anyhow::anyhow!("width {width} is not compiled in; supported widths: {WIDTHS:?}")
}

/// Checks that `width` is compiled in, so bad input fails before any work.
pub fn check_width(width: usize) -> anyhow::Result<()> {
    match WIDTHS.contains(&width) {
        true => Ok(()),
        false => Err(unsupported(width)),
    }
}
