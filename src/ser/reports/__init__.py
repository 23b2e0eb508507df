"""What people read: error analysis, evaluation figures, exploratory figures, and the offline plots page."""
