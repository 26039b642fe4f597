//! Joins of two streams: the interval join of two keyed streams, and the
//! window join and co-group of two streams (Flink's `IntervalJoin`,
//! `JoinedStreams` and `CoGroupedStreams`).

use std::sync::Arc;

use super::connected::two_input_node;
use super::keyed::{KeyedStream, key_groups};
use super::side_output::OutputTag;
use super::stream::{DataStream, UserFn};
use crate::error::Result;
use crate::operators::interval_join::{IntervalJoinOp, IntervalJoinSpec};
use crate::runtime::wire::ExchangeData;
use crate::window::{ProcessWindowFunction, WindowAssigner, WindowCollector};

// ---------------------------------------------------------------------------
// Interval join
// ---------------------------------------------------------------------------

/// Two keyed streams to be joined on an event-time interval; made by
/// [`KeyedStream::interval_join`]. Give the interval with
/// [`between`](Self::between).
pub struct IntervalJoin<K, A, B> {
    left: KeyedStream<K, A>,
    right: KeyedStream<K, B>,
}

/// An interval join with its bounds, ready for its join function.
pub struct IntervalJoined<K, A, B> {
    left: KeyedStream<K, A>,
    right: KeyedStream<K, B>,
    lower_ms: i64,
    upper_ms: i64,
    lower_inclusive: bool,
    upper_inclusive: bool,
    left_late_tag: Option<String>,
    right_late_tag: Option<String>,
}

impl<K: crate::Key, A: crate::Data> KeyedStream<K, A> {
    /// Joins this stream (the left side) with `other` (the right side):
    /// records `a` and `b` with equal keys are joined when `b`'s timestamp
    /// lies in an interval around `a`'s, given by
    /// [`IntervalJoin::between`]. Both streams need event time.
    pub fn interval_join<B: crate::Data>(
        &self,
        other: &KeyedStream<K, B>,
    ) -> IntervalJoin<K, A, B> {
        IntervalJoin {
            left: self.clone(),
            right: other.clone(),
        }
    }
}

impl<K: crate::Key, A: crate::Data, B: crate::Data> IntervalJoin<K, A, B> {
    /// Joins `a` and `b` when `a.ts + lower_ms <= b.ts <= a.ts + upper_ms`.
    /// Both bounds are inclusive unless made exclusive; `lower_ms` must not
    /// exceed `upper_ms`.
    pub fn between(self, lower_ms: i64, upper_ms: i64) -> IntervalJoined<K, A, B> {
        IntervalJoined {
            left: self.left,
            right: self.right,
            lower_ms,
            upper_ms,
            lower_inclusive: true,
            upper_inclusive: true,
            left_late_tag: None,
            right_late_tag: None,
        }
    }
}

impl<K: crate::Key, A: crate::Data + crate::StateData, B: crate::Data + crate::StateData>
    IntervalJoined<K, A, B>
{
    /// Excludes the lower bound: `a.ts + lower_ms < b.ts`.
    pub fn lower_bound_exclusive(mut self) -> Self {
        self.lower_inclusive = false;
        self
    }

    /// Excludes the upper bound: `b.ts < a.ts + upper_ms`.
    pub fn upper_bound_exclusive(mut self) -> Self {
        self.upper_inclusive = false;
        self
    }

    /// Sends left records that arrive behind the watermark (and so are not
    /// joined) to a side output instead of dropping them.
    pub fn side_output_left_late_data(mut self, tag: &OutputTag<A>) -> Self {
        self.left_late_tag = Some(tag.name().to_string());
        self
    }

    /// Sends right records that arrive behind the watermark to a side output.
    pub fn side_output_right_late_data(mut self, tag: &OutputTag<B>) -> Self {
        self.right_late_tag = Some(tag.name().to_string());
        self
    }

    /// The inclusive bounds, or why the join cannot be built.
    fn bounds(&self) -> std::result::Result<(i64, i64), String> {
        if !self.left.stream.has_time || !self.right.stream.has_time {
            return Err("an interval join needs event time on both streams; call \
                 `assign_timestamps_and_watermarks` on each (or use sources that emit \
                 timestamps) before `key_by(...).interval_join(...)`"
                .to_string());
        }
        if self.lower_ms > self.upper_ms {
            return Err(format!(
                "an interval join's lower bound ({}) exceeds its upper bound ({}); use `between(lower, upper)` with lower <= upper",
                self.lower_ms, self.upper_ms
            ));
        }
        // Exclusive bounds become inclusive ones one millisecond inside.
        let lower = if self.lower_inclusive {
            self.lower_ms
        } else {
            self.lower_ms.saturating_add(1)
        };
        let upper = if self.upper_inclusive {
            self.upper_ms
        } else {
            self.upper_ms.saturating_sub(1)
        };
        if lower > upper {
            return Err(format!(
                "an interval join with bounds {}..{} and exclusive ends matches nothing; widen the interval",
                self.lower_ms, self.upper_ms
            ));
        }
        Ok((lower, upper))
    }

    /// Emits `f(a, b)` for every joined pair, with the later of the two
    /// timestamps. Each side's records are kept until the combined
    /// watermark shows no more partners can arrive; records behind the
    /// watermark are late and dropped (counted in the job's late records).
    pub fn process<O: crate::Data>(
        self,
        f: impl Fn(&A, &B) -> O + Clone + Send + Sync + 'static,
    ) -> DataStream<O> {
        let (lower, upper) = match self.bounds() {
            Ok(b) => b,
            Err(problem) => {
                self.left.stream.g.borrow_mut().errors.push(problem);
                (self.lower_ms, self.upper_ms)
            }
        };
        let spec = IntervalJoinSpec {
            key_left: self.left.key_fn.clone(),
            key_right: self.right.key_fn.clone(),
            lower,
            upper,
            f,
            left_late_tag: self.left_late_tag,
            right_late_tag: self.right_late_tag,
        };
        let out = two_input_node(
            "interval_join",
            (&self.left.stream, self.left.exchange()),
            (&self.right.stream, self.right.exchange()),
            true,
            move |inst, node| {
                Ok(IntervalJoinOp::new(
                    spec.clone(),
                    key_groups(inst),
                    inst.outputs_of::<O>(node)?,
                    inst.side_outputs_of(node)?,
                    inst.settings.max_parallelism,
                ))
            },
        );
        out.g.borrow_mut().mark_snapshots_state(out.node);
        out
    }
}

// ---------------------------------------------------------------------------
// Window join and co-group
// ---------------------------------------------------------------------------

/// A record of either input of a window join or co-group: both inputs are
/// mapped to this type and unioned, so one keyed window holds both sides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum TaggedUnion<A, B> {
    /// A record of the first input.
    One(A),
    /// A record of the second input.
    Two(B),
}

/// The inputs of a window join or co-group, with their key selectors.
struct JoinInputs<A, B, K> {
    first: DataStream<A>,
    second: DataStream<B>,
    key1: Arc<dyn Fn(&A) -> K + Send + Sync>,
    key2: Arc<dyn Fn(&B) -> K + Send + Sync>,
}

impl<A: crate::Data, B: crate::Data, K: crate::Key> JoinInputs<A, B, K> {
    /// Keys both inputs, windows them together and applies `f` to each
    /// window's records of both sides (as Flink builds its `JoinedStreams`).
    fn windowed<W, O, F>(self, assigner: W, allowed_lateness_ms: u64, f: F) -> DataStream<O>
    where
        W: WindowAssigner<TaggedUnion<A, B>>,
        O: crate::Data,
        F: ProcessWindowFunction<K, W::W, TaggedUnion<A, B>, O>,
        TaggedUnion<A, B>: ExchangeData + crate::StateData,
    {
        let one = self.first.map(TaggedUnion::<A, B>::One);
        let two = self.second.map(TaggedUnion::<A, B>::Two);
        let (key1, key2) = (self.key1, self.key2);
        one.union(&[two])
            .key_by(move |u: &TaggedUnion<A, B>| match u {
                TaggedUnion::One(a) => key1(a),
                TaggedUnion::Two(b) => key2(b),
            })
            .window(assigner)
            .allowed_lateness_ms(allowed_lateness_ms)
            .process(f)
    }
}

/// Splits a window's records into the two sides, keeping arrival order.
fn split<A, B>(elements: &[TaggedUnion<A, B>]) -> (Vec<&A>, Vec<&B>) {
    let mut ones = Vec::new();
    let mut twos = Vec::new();
    for e in elements {
        match e {
            TaggedUnion::One(a) => ones.push(a),
            TaggedUnion::Two(b) => twos.push(b),
        }
    }
    (ones, twos)
}

/// The window function of a join: the cross product of both sides.
#[derive(Clone)]
struct JoinWindowFn<F> {
    f: F,
}

impl<K, W, A, B, O, F> ProcessWindowFunction<K, W, TaggedUnion<A, B>, O> for JoinWindowFn<F>
where
    F: Fn(&A, &B) -> O + UserFn,
{
    fn process(
        &mut self,
        _key: &K,
        _window: &W,
        elements: &[TaggedUnion<A, B>],
        out: &mut WindowCollector<'_, O>,
    ) -> Result<()> {
        let (ones, twos) = split(elements);
        for a in &ones {
            for b in &twos {
                out.collect((self.f)(a, b));
            }
        }
        Ok(())
    }
}

/// The window function of a co-group: both sides' records at once.
#[derive(Clone)]
struct CoGroupWindowFn<F> {
    f: F,
}

impl<K, W, A, B, O, F> ProcessWindowFunction<K, W, TaggedUnion<A, B>, O> for CoGroupWindowFn<F>
where
    A: Clone,
    B: Clone,
    F: Fn(&[A], &[B], &mut WindowCollector<'_, O>) + UserFn,
{
    fn process(
        &mut self,
        _key: &K,
        _window: &W,
        elements: &[TaggedUnion<A, B>],
        out: &mut WindowCollector<'_, O>,
    ) -> Result<()> {
        let (ones, twos) = split(elements);
        let ones: Vec<A> = ones.into_iter().cloned().collect();
        let twos: Vec<B> = twos.into_iter().cloned().collect();
        (self.f)(&ones, &twos, out);
        Ok(())
    }
}

impl<A: crate::Data> DataStream<A> {
    /// Starts a window join with `other` (Flink's `join`): records of both
    /// with equal keys that fall into the same window are paired.
    ///
    /// `a.join(&b).where_key(ka).equal_to(kb).window(assigner).apply(f)`
    pub fn join<B: crate::Data>(&self, other: &DataStream<B>) -> JoinedStreams<A, B> {
        JoinedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }

    /// Starts a window co-group with `other` (Flink's `coGroup`): for each key
    /// and window, a function sees the records of both sides together, even
    /// when one side has none.
    pub fn co_group<B: crate::Data>(&self, other: &DataStream<B>) -> CoGroupedStreams<A, B> {
        CoGroupedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }
}

/// Generates the `where_key` / `equal_to` / `window` stages of a window
/// join or co-group; the two differ only in their final function.
macro_rules! join_stages {
    ($(#[$sdoc:meta])* $streams:ident, $(#[$wdoc:meta])* $where_:ident, $(#[$edoc:meta])* $equal:ident,
     $(#[$windoc:meta])* $windowed:ident) => {
        $(#[$sdoc])*
        pub struct $streams<A, B> {
            first: DataStream<A>,
            second: DataStream<B>,
        }

        $(#[$wdoc])*
        pub struct $where_<A, B, K> {
            first: DataStream<A>,
            second: DataStream<B>,
            key1: Arc<dyn Fn(&A) -> K + Send + Sync>,
        }

        $(#[$edoc])*
        pub struct $equal<A, B, K> {
            inputs: JoinInputs<A, B, K>,
        }

        $(#[$windoc])*
        pub struct $windowed<A, B, K, W> {
            inputs: JoinInputs<A, B, K>,
            assigner: W,
            allowed_lateness_ms: u64,
        }

        impl<A: crate::Data, B: crate::Data> $streams<A, B> {
            /// The key of the first input's records.
            pub fn where_key<K: crate::Key>(
                self,
                key: impl Fn(&A) -> K + UserFn,
            ) -> $where_<A, B, K> {
                $where_ {
                    first: self.first,
                    second: self.second,
                    key1: Arc::new(key),
                }
            }
        }

        impl<A: crate::Data, B: crate::Data, K: crate::Key> $where_<A, B, K> {
            /// The key of the second input's records; records of both inputs
            /// with equal keys are matched.
            pub fn equal_to(self, key: impl Fn(&B) -> K + UserFn) -> $equal<A, B, K> {
                $equal {
                    inputs: JoinInputs {
                        first: self.first,
                        second: self.second,
                        key1: self.key1,
                        key2: Arc::new(key),
                    },
                }
            }
        }

        impl<A: crate::Data, B: crate::Data, K: crate::Key> $equal<A, B, K> {
            /// The windows records are matched in. Event-time windows need
            /// event time on both inputs.
            pub fn window<W: WindowAssigner<TaggedUnion<A, B>>>(
                self,
                assigner: W,
            ) -> $windowed<A, B, K, W> {
                $windowed {
                    inputs: self.inputs,
                    assigner,
                    allowed_lateness_ms: 0,
                }
            }
        }

        impl<A: crate::Data, B: crate::Data, K: crate::Key, W: WindowAssigner<TaggedUnion<A, B>>>
            $windowed<A, B, K, W>
        {
            /// Keeps windows this long after they end; late records within
            /// it fire the window again.
            pub fn allowed_lateness_ms(mut self, ms: u64) -> Self {
                self.allowed_lateness_ms = ms;
                self
            }
        }
    };
}

join_stages!(
    /// Two streams to be joined in windows; made by [`DataStream::join`].
    JoinedStreams,
    /// A window join with the first input's key.
    JoinedStreamsWhere,
    /// A window join with both keys, before its windows.
    JoinedStreamsEqualTo,
    /// A window join with keys and windows, before its join function.
    WindowedJoin
);

join_stages!(
    /// Two streams to be co-grouped in windows; made by [`DataStream::co_group`].
    CoGroupedStreams,
    /// A window co-group with the first input's key.
    CoGroupedStreamsWhere,
    /// A window co-group with both keys, before its windows.
    CoGroupedStreamsEqualTo,
    /// A window co-group with keys and windows, before its function.
    WindowedCoGroup
);

impl<A, B, K, W> WindowedJoin<A, B, K, W>
where
    A: crate::Data,
    B: crate::Data,
    K: crate::Key,
    W: WindowAssigner<TaggedUnion<A, B>>,
    TaggedUnion<A, B>: ExchangeData + crate::StateData,
{
    /// Emits `f(a, b)` for every pair of records with equal keys in the same
    /// window (an inner join), when the window fires; the results carry the
    /// window's last timestamp.
    pub fn apply<O: crate::Data>(self, f: impl Fn(&A, &B) -> O + UserFn) -> DataStream<O> {
        self.inputs
            .windowed(self.assigner, self.allowed_lateness_ms, JoinWindowFn { f })
    }
}

impl<A, B, K, W> WindowedCoGroup<A, B, K, W>
where
    A: crate::Data,
    B: crate::Data,
    K: crate::Key,
    W: WindowAssigner<TaggedUnion<A, B>>,
    TaggedUnion<A, B>: ExchangeData + crate::StateData,
{
    /// Calls `f(firsts, seconds, out)` for each key and window when it
    /// fires, with the records of each side in arrival order (one side may
    /// be empty); the results carry the window's last timestamp.
    pub fn apply<O: crate::Data>(
        self,
        f: impl Fn(&[A], &[B], &mut WindowCollector<'_, O>) + UserFn,
    ) -> DataStream<O> {
        self.inputs.windowed(
            self.assigner,
            self.allowed_lateness_ms,
            CoGroupWindowFn { f },
        )
    }
}
