/// The version of this build of accessctl.
public enum AccessctlVersion {
    public static let current = "0.1.0-dev"
}
