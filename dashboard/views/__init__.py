"""One ``pn.viewable.Viewer`` per tab, plus the sidebar's model picker."""
