import AccessctlCLI

await AccessctlMain.run()
