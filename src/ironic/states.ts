// Which Ironic provision states a node is served in by default, and why. Found by reading Debian's
// python3-ironic 21.4 and by running it (test/ironic/source.test.ts records the node's state at
// every request for its image during a real ramdisk deploy over Redfish virtual media):
//
// - Ironic's validation of boot_iso. `baremetal node deploy` validates in
//   conductor/deployments.py start_deploy, while the node is still `available` (or `active` for a
//   rebuild), but for a `boot_iso` that validation is deploy_utils.validate_image_properties ->
//   image_service.get_image_service: it parses the URL's scheme and fetches nothing. With
//   `ramdisk_image_download_source=http` Ironic never requests the URL (seen: no request from
//   python-requests in a whole deploy). With `local`, image_utils._prepare_iso_image fetches it
//   into Ironic's ISO cache (HttpImageService.validate_href's HEAD, then a GET, then a HEAD), in
//   `deploying` (target `active`), inside the deploy step that prepares the instance's boot.
// - The BMC's mount. RedfishVirtualMediaBoot.prepare_instance inserts the URL and sets a
//   persistent boot from CD during the deploy steps: `deploying` (target `active`). The ramdisk
//   deploy ends as soon as the machine is powered on, so a real BMC's reads run on into `active`.
// - A reboot of the ramdisk instance boots the CD again (the boot device is persistent): `active`.
//   A conductor taking the node over runs prepare_instance again in `active`, and a rebuild goes
//   back through `deploying`.
// - Undeploy (`deleted`) goes through `deleting`; Ironic ejects the media and clears
//   instance_info (boot_iso, kernel_append_params and the isoproxy_* keys go with it), so an
//   undeployed node is refused twice over (no base; `available`).
//
// `wait call-back` is where a deploy waits for asynchronous deploy steps; the ramdisk deploy of
// 21.4 does not enter it, but a deploy template with waiting steps does while the BMC may be
// reading, so it is in the set. Not in the set: `available`, `manageable`, `enroll` (nothing may
// boot from the node's image), `deploy failed`, `deleting`, cleaning, rescue and inspection states.

export const DEFAULT_PROVISION_STATES: readonly string[] = ['deploying', 'wait call-back', 'active'];
