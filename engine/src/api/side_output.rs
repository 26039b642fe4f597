//! Typed tags that name side outputs.

use std::marker::PhantomData;

/// Names a side output carrying records of type `X`.
pub struct OutputTag<X> {
    name: String,
    _x: PhantomData<fn() -> X>,
}

impl<X> Clone for OutputTag<X> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            _x: PhantomData,
        }
    }
}

impl<X> std::fmt::Debug for OutputTag<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputTag({})", self.name)
    }
}

impl<X> OutputTag<X> {
    /// A tag; the name must be unique among the side outputs of one operator.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            _x: PhantomData,
        }
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
