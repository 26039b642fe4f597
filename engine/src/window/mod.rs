//! Windows: assigners, triggers, window functions and the window operator.
//!
//! Tumbling, sliding and session windows in event time (and tumbling in
//! processing time), plus a global window with a custom trigger; all with
//! allowed lateness, and late records on a side output.

mod assigner;
mod auto_trigger;
mod functions;
mod operator;
mod session;
mod slice_store;
mod sliced_operator;
mod slicing;
mod trigger;

pub use assigner::{
    EventTimeSessionWindows, GlobalWindow, GlobalWindows, SlidingEventTimeWindows, TimeWindow,
    TumblingEventTimeWindows, TumblingProcessingTimeWindows, Window, WindowAssigner,
};
pub use auto_trigger::DefaultTrigger;
pub use functions::{Count, ProcessWindowFunction, WindowCollector};
pub use trigger::{
    CountTrigger, EventTimeTrigger, ProcessingTimeTrigger, Trigger, TriggerContext, TriggerResult,
};

pub(crate) use functions::{AggregateContents, ProcessContents, ReduceContents, WindowContents};
pub(crate) use operator::{WindowOp, WindowSpec};
