//! Signed rows of one version, column-major, ready to ship as arrays.

/// Rows shipped for one version: `signs[i]` is +1 (new row) or −1 (old row); `columns[c][i]`
/// is the text value of the version's c-th shipped column.
#[derive(Debug, Default)]
pub struct SignedRows {
    pub signs: Vec<i16>,
    pub columns: Vec<Vec<Option<String>>>,
}

impl SignedRows {
    pub fn new(width: usize) -> Self {
        SignedRows {
            signs: Vec::new(),
            columns: vec![Vec::new(); width],
        }
    }

    pub fn len(&self) -> usize {
        self.signs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signs.is_empty()
    }

    pub fn push(&mut self, sign: i16, values: Vec<Option<String>>) {
        self.signs.push(sign);
        for (col, v) in self.columns.iter_mut().zip(values) {
            col.push(v);
        }
    }

    /// Take the rows out, leaving an empty buffer of the same width.
    pub fn take(&mut self) -> SignedRows {
        let width = self.columns.len();
        std::mem::replace(self, SignedRows::new(width))
    }

    /// Statement parameters: signs, then one array per column.
    pub fn params(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        let mut p: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&self.signs];
        for c in &self.columns {
            p.push(c);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_take_keep_columns_aligned() {
        let mut rows = SignedRows::new(2);
        rows.push(1, vec![Some("a".into()), None]);
        rows.push(-1, vec![Some("b".into()), Some("2".into())]);
        assert_eq!(rows.len(), 2);
        let taken = rows.take();
        assert!(rows.is_empty());
        assert_eq!(rows.columns.len(), 2);
        assert_eq!(taken.columns[1], vec![None, Some("2".into())]);
        assert_eq!(taken.params().len(), 3);
    }
}
