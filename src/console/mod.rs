//! The interactive console: state, key map, rendering, event loop.
