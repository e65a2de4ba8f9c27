//! What every handler gets: the control plane and the runtime state.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::plane::ControlPlane;
use crate::state::RuntimeView;

/// Shared state of the admin server.
#[derive(Clone)]
pub struct AdminState {
    /// The configuration owner (token, config, apply).
    pub plane: Arc<Mutex<ControlPlane>>,
    /// The daemon's live data.
    pub runtime: Arc<RuntimeView>,
}
