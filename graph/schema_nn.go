package graph

func addNNSchemas(add func(*Schema)) {}
