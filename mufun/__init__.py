"""mufun: see, hear and teach how the MuFun music-understanding model works."""
