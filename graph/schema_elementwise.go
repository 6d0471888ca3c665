package graph

func addElementwiseSchemas(add func(*Schema)) {}
