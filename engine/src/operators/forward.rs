//! Passing control events on: the code every operator with a main output
//! (`next`) and side outputs (`side`) shares.

/// Implements the named control methods (`watermark`, `idle`, `batch_end`,
/// `tick`, `end`) of [`Output`](crate::runtime::output::Output) or
/// [`TwoInputOperator`](super::two_input::TwoInputOperator) by passing the
/// event to the side outputs, then to the main output. For operators whose
/// own work on an event is done before it goes on (firing timers on a
/// watermark), `after` names a method that runs first:
/// `forward_to_outputs!(idle, batch_end, end; watermark after on_watermark)`.
macro_rules! forward_to_outputs {
    ($($method:ident),* $(; $($hooked:ident after $hook:ident),+)?) => {
        $($crate::operators::forward::forward_to_outputs!(@one $method ());)*
        $($($crate::operators::forward::forward_to_outputs!(@one $hooked ($hook));)+)?
    };
    (@one watermark ($($hook:ident)?)) => {
        fn watermark(&mut self, cx: &mut $crate::runtime::output::TaskCx, wm: $crate::time::Timestamp) {
            $(self.$hook(cx, wm);)?
            self.side.watermark(cx, wm);
            self.next.watermark(cx, wm);
        }
    };
    (@one idle ($($hook:ident)?)) => {
        fn idle(&mut self, cx: &mut $crate::runtime::output::TaskCx, idle: bool) {
            $(self.$hook(cx, idle);)?
            self.side.idle(cx, idle);
            self.next.idle(cx, idle);
        }
    };
    (@one batch_end ($($hook:ident)?)) => {
        fn batch_end(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            $(self.$hook(cx);)?
            self.side.batch_end(cx);
            self.next.batch_end(cx);
        }
    };
    (@one tick ($($hook:ident)?)) => {
        fn tick(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            $(self.$hook(cx);)?
            self.side.tick(cx);
            self.next.tick(cx);
        }
    };
    (@one end ($($hook:ident)?)) => {
        fn end(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            $(self.$hook(cx);)?
            self.side.end(cx);
            self.next.end(cx);
        }
    };
}
pub(crate) use forward_to_outputs;
