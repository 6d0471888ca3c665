package main

import "github.com/spf13/cobra"

// subcommands lists the constructors of the top-level commands, one file each.
var subcommands = []func(*env) *cobra.Command{
	newBenchCmd,
	newCalibrateCmd,
	newConformanceCmd,
	newConvertCmd,
	newDataCmd,
	newDemoCmd,
	newEvalCmd,
	newExperimentCmd,
	newFinetuneCmd,
	newFLCmd,
	newInspectCmd,
	newKeysCmd,
	newModelsCmd,
	newPredictabilityCmd,
	newPrivacyCmd,
	newPublishCmd,
	newRolloutCmd,
	newRunCmd,
	newServeCmd,
	newTokenCmd,
	newTrainCmd,
	newValidateCmd,
}
