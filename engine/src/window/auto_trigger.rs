//! The default trigger of an assigner: event time or processing time.

use super::assigner::Window;
use super::trigger::{
    EventTimeTrigger, ProcessingTimeTrigger, Trigger, TriggerContext, TriggerResult,
};
use crate::time::Timestamp;

/// Fires at the end of the window in the assigner's time domain.
#[derive(Debug, Clone, Copy)]
pub struct DefaultTrigger {
    pub(crate) event_time: bool,
}

impl<T, W: Window> Trigger<T, W> for DefaultTrigger {
    fn on_element(
        &mut self,
        v: &T,
        ts: Timestamp,
        w: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.event_time {
            Trigger::<T, W>::on_element(&mut EventTimeTrigger, v, ts, w, ctx)
        } else {
            Trigger::<T, W>::on_element(&mut ProcessingTimeTrigger, v, ts, w, ctx)
        }
    }
    fn on_event_time(
        &mut self,
        time: Timestamp,
        w: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.event_time {
            Trigger::<T, W>::on_event_time(&mut EventTimeTrigger, time, w, ctx)
        } else {
            TriggerResult::Continue
        }
    }
    fn on_processing_time(
        &mut self,
        time: i64,
        w: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if self.event_time {
            TriggerResult::Continue
        } else {
            Trigger::<T, W>::on_processing_time(&mut ProcessingTimeTrigger, time, w, ctx)
        }
    }
}
