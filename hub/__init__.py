"""cravate-hub: the core. Plugins import `hookimpl` from here, events from `hub.events`."""

from hub.errors import DeliveryRejected, DeliverySkipped, PluginAuthFailed, PluginNotReady
from hub.hookspecs import hookimpl

__all__ = ["DeliveryRejected", "DeliverySkipped", "PluginAuthFailed", "PluginNotReady", "hookimpl"]
__version__ = "0.1.0"
