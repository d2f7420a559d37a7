"""The technique taxonomy: versioned data files, their schema, a loader and a seeder."""
