"""Speed: the FE-Block kernel, the HTTP service against its floors, and training."""
