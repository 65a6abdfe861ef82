// The warnings of `isoproxy ironic check`: each setting that would make Ironic bypass the proxy
// or make a BMC refuse the URL.

import { describe, expect, it } from 'vitest';
import { checkWarnings, MAX_BMC_URL_LENGTH } from '../../src/commands/ironic.js';
import { resolveNode, type IronicNode } from '../../src/ironic/mapping.js';

const good: IronicNode = {
  uuid: '5a1b0ac6-2f4f-4f0c-9d3b-0c6f3d2f8e11',
  name: 'n1',
  provision_state: 'available',
  deploy_interface: 'ramdisk',
  boot_interface: 'redfish-virtual-media',
  instance_info: { isoproxy_base_iso: 'http://images/base.iso', ramdisk_image_download_source: 'http' },
  driver_info: {},
};
const URL = 'http://proxy:8080/ironic/n1.iso';
const warnings = (node: IronicNode, url = URL): string[] =>
  checkWarnings(resolveNode('n1', node, { defaultAppend: '', provisionStates: undefined, checkUpstreamAllowed: () => {} }), url);

describe('ironic check warnings', () => {
  it('says nothing about a node set up for the proxy', () => {
    expect(warnings(good)).toEqual([]);
  });
  it('warns when Ironic would copy the image (download source local, or unset: default local)', () => {
    expect(warnings({ ...good, instance_info: { ...good.instance_info, ramdisk_image_download_source: 'local' } })).toEqual([
      expect.stringMatching(/"local", not "http".*full copy/),
    ]);
    expect(warnings({ ...good, instance_info: { isoproxy_base_iso: 'http://images/base.iso' } })).toEqual([
      expect.stringMatching(/not set.*default is "local"/),
    ]);
  });
  it('warns about a deploy interface other than ramdisk and a boot interface that is not virtual media', () => {
    expect(warnings({ ...good, deploy_interface: 'direct', boot_interface: 'ipxe' })).toEqual([
      expect.stringMatching(/deploy_interface is "direct"/),
      expect.stringMatching(/boot_interface is "ipxe"/),
    ]);
    expect(warnings({ ...good, boot_interface: 'idrac-redfish-virtual-media' })).toEqual([]);
  });
  it('warns about a URL over 255 characters', () => {
    const long = `http://proxy:8080/${'x'.repeat(MAX_BMC_URL_LENGTH)}/n1.iso`;
    expect(warnings(good, long)).toEqual([expect.stringMatching(/over the 255/)]);
  });
  it('notes a boot_iso that points elsewhere', () => {
    expect(warnings({ ...good, instance_info: { ...good.instance_info, boot_iso: 'http://other/x.iso' } })).toEqual([
      expect.stringMatching(/boot_iso is http:\/\/other\/x.iso/),
    ]);
  });
});
