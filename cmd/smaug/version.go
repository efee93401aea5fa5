package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/smaug-dev/smaug/kernels"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module's build information is used.
var version = ""

func init() { rootCmd.AddCommand(newVersionCmd()) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the matrix-product kernels in use",
		Long: `Print smaug's version, the Go toolchain it was built with, and which
matrix-product kernels are in use: a BLAS library loaded at run time
(OpenBLAS, MKL, BLIS or Accelerate) or the pure-Go fallback.
Set SMAUG_BLAS=off to force the pure-Go kernels.`,
		Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if v == "" {
				v = "(devel)"
				if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
					v = bi.Main.Version
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "smaug %s\n", v)
			fmt.Fprintf(out, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(out, "kernels: %s\n", kernels.Backend())
		},
	}
}
