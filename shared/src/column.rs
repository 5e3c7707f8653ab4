//! A nullable float64 column held as Arrow holds it: the values and a validity flag per
//! cell kept apart (9 bytes a cell, where `Vec<Option<f64>>` takes 16), so a silver
//! partition costs less to hold until it is encoded and its values go to Arrow as one copy.

use std::fmt;

/// A column of `Option<f64>` cells. A null cell stores the value `0.0`, so two columns
/// with the same cells are equal (`PartialEq` compares cells as `Option<f64>` does).
#[derive(Clone, Default, PartialEq)]
pub struct F64Column {
    values: Vec<f64>,
    valid: Vec<bool>,
}

impl F64Column {
    /// An empty column with room for `n` cells.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            values: Vec::with_capacity(n),
            valid: Vec::with_capacity(n),
        }
    }

    /// `n` null cells.
    pub fn nulls(n: usize) -> Self {
        Self {
            values: vec![0.0; n],
            valid: vec![false; n],
        }
    }

    /// Appends one cell.
    pub fn push(&mut self, v: Option<f64>) {
        self.values.push(v.unwrap_or(0.0));
        self.valid.push(v.is_some());
    }

    /// The cell at `i` (panics past the end, like slice indexing).
    pub fn get(&self, i: usize) -> Option<f64> {
        self.valid[i].then(|| self.values[i])
    }

    /// Replaces the cell at `i` (panics past the end).
    pub fn set(&mut self, i: usize, v: Option<f64>) {
        self.values[i] = v.unwrap_or(0.0);
        self.valid[i] = v.is_some();
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True without cells.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Moves every cell of `other` to the end of `self`.
    pub fn append(&mut self, other: &mut F64Column) {
        self.values.append(&mut other.values);
        self.valid.append(&mut other.valid);
    }

    /// The cells in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<f64>> + '_ {
        self.values
            .iter()
            .zip(&self.valid)
            .map(|(v, ok)| ok.then_some(*v))
    }

    /// The values, `0.0` where a cell is null.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Per cell, true where it is not null.
    pub fn validity(&self) -> &[bool] {
        &self.valid
    }

    /// Appends the cells of an Arrow array.
    pub fn extend_from_arrow(&mut self, a: &arrow_array::Float64Array) {
        use arrow_array::Array;
        let start = self.values.len();
        self.values.extend_from_slice(a.values());
        match a.nulls() {
            Some(nulls) => {
                self.valid.extend(nulls.iter());
                for (v, ok) in self.values[start..].iter_mut().zip(nulls.iter()) {
                    if !ok {
                        *v = 0.0;
                    }
                }
            }
            None => self.valid.extend(std::iter::repeat_n(true, a.len())),
        }
    }
}

impl Extend<Option<f64>> for F64Column {
    fn extend<I: IntoIterator<Item = Option<f64>>>(&mut self, iter: I) {
        for v in iter {
            self.push(v);
        }
    }
}

impl FromIterator<Option<f64>> for F64Column {
    fn from_iter<I: IntoIterator<Item = Option<f64>>>(iter: I) -> Self {
        let mut c = Self::default();
        c.extend(iter);
        c
    }
}

impl From<Vec<Option<f64>>> for F64Column {
    fn from(v: Vec<Option<f64>>) -> Self {
        v.into_iter().collect()
    }
}

impl fmt::Debug for F64Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Float64Array;

    #[test]
    fn cells_read_back_as_written_and_nulls_compare_equal_whatever_was_stored() {
        let mut c = F64Column::with_capacity(3);
        c.extend([Some(1.5), None, Some(-0.0)]);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            vec![Some(1.5), None, Some(-0.0)]
        );
        assert_eq!((c.get(0), c.get(1)), (Some(1.5), None));
        c.set(0, None);
        c.set(1, Some(2.0));
        assert_eq!(c, F64Column::from(vec![None, Some(2.0), Some(0.0)]));
        assert_ne!(c, F64Column::from(vec![Some(0.0), Some(2.0), Some(0.0)]));
        assert_eq!(format!("{c:?}"), "[None, Some(2.0), Some(-0.0)]");
        let mut d = F64Column::nulls(2);
        d.append(&mut c);
        assert_eq!((d.len(), c.len()), (5, 0));
        assert_eq!(d.validity(), &[false, false, false, true, true]);
    }

    #[test]
    fn arrow_arrays_extend_with_their_nulls_as_zero_values() {
        let mut c = F64Column::default();
        // Arrow keeps whatever lies under a null: the column stores 0.0 there.
        let a = Float64Array::new(
            vec![1.0, 7.0, 3.0].into(),
            Some(vec![true, false, true].into()),
        );
        c.extend_from_arrow(&a);
        c.extend_from_arrow(&Float64Array::from(vec![4.0]));
        assert_eq!(c.values(), &[1.0, 0.0, 3.0, 4.0]);
        assert_eq!(
            c,
            F64Column::from(vec![Some(1.0), None, Some(3.0), Some(4.0)])
        );
    }
}
