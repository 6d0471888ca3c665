package graph

func addShapeSchemas(add func(*Schema)) {}
