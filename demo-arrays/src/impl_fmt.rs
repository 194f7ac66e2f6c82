//! `Debug` for arrays, NumPy-style: `array([0.0, 1.0, 2.0, …], shape=(3, 4), dtype=float64)`, at most
//! the first eight elements in logical order.

use std::fmt;

use crate::array_base::{ArrayBase, Data};
use crate::error::ShapeDisplay;

impl<S: Data> fmt::Debug for ArrayBase<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("array([")?;
        for (i, x) in self.iter().take(8).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{x:?}")?;
        }
        if self.len() > 8 {
            f.write_str(", …")?;
        }
        write!(
            f,
            "], shape={}, dtype={})",
            ShapeDisplay::of(self.shape()),
            self.dtype()
        )
    }
}
