"""ROS tools that talk to the node or replay for it: camera publisher, recorder, echo, call, demo, bag-track.

They may use node/ helpers (tools -> node -> tracker); nothing in node/ imports them."""
