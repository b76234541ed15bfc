import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../sandbox/free-port.js';
import { startSandbox, type SandboxProcess } from '../helpers/sandbox-process.js';

/**
 * The sandbox page in a real browser: Debian's chromium, driven by playwright-core (a browser
 * download cannot work on these machines). Each click goes page → emulator → signed request → bot.
 */

const OUTPUT = 'test-output/sandbox';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let sandbox: SandboxProcess;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(OUTPUT, { recursive: true });
  // No REDIS_URL: the sandbox starts a private redis-server of its own, as on a machine without one.
  sandbox = await startSandbox({ SANDBOX_PORT: String(await freePort()) });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(sandbox.url);
  await waitUntilLive();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (sandbox) expect(await sandbox.stop('SIGINT')).toBe(0);
});

/** Until the page's event stream is connected (after a change of user, too). */
async function waitUntilLive(): Promise<void> {
  await page.locator('#connection', { hasText: /^live$/ }).waitFor();
}

async function actAs(name: string): Promise<void> {
  await page.selectOption('#viewer', { label: name });
  await waitUntilLive();
}

/** A screenshot of an element of a live page: when an update replaces it mid-shot, shoot the new one. */
async function screenshot(locator: Locator, name: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await locator.screenshot({ path: `${OUTPUT}/${name}` });
      return;
    } catch (err) {
      if (attempt === 3 || !String(err).includes('not attached')) throw err;
    }
  }
}

async function approveCard(card: Locator): Promise<void> {
  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  // The prod-writes route asks for Slack's confirm dialog first.
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor();
  expect(await dialog.textContent()).toContain('Approve a prod write');
  await page.locator('#confirm-ok').click();
}

/** Clicks a New request sample, opens the channel its card goes to, and waits for the card. */
async function requestSample(sample: string, channel: string, cardText: string): Promise<Locator> {
  await page.locator(`#channel-list a[data-channel="${channel}"]`).click();
  const cards = page.locator('#messages article.message[data-ts]').filter({ hasText: cardText });
  // The same sample may have been requested before: the new card is the next one.
  const before = await cards.count();
  await page.getByRole('button', { name: sample }).click();
  const card = cards.nth(before);
  await card.waitFor();
  return card;
}

describe('the sandbox page', () => {
  it('shows a requested card, refuses a non-approver, and approves for an approver with the decision on the resume queue', async () => {
    await actAs('Alice');
    const card = await requestSample('Prod write from an incident channel', 'C0INCIDENT42', 'Refund two orders charged twice during INC-42');
    const pending = await card.textContent();
    expect(await card.locator('.bk-header').textContent()).toBe('Approval needed');
    expect(pending).toContain('incident-triage');
    expect(pending).toContain('@oncall'); // the route's mention, shown as Slack shows a user group
    // The job's first lines, as code, and the workflow and step right under the header.
    expect(await card.locator('.bk-section pre').first().textContent()).toContain('"sql": "UPDATE orders SET status = \'refunded\' WHERE id = ANY($1)"');
    expect(await card.locator('.bk-context').first().textContent()).toBe('incident-triage › remediate');
    await screenshot(card, 'card-pending.png');

    // View job: the whole stored job and the full job hash, in a modal that decides nothing.
    await card.getByRole('button', { name: 'View job', exact: true }).click();
    const jobModal = page.locator('#modal-layer form.modal');
    await jobModal.waitFor();
    const shownJob = (await jobModal.textContent())!;
    expect(shownJob).toContain('"database": "orders-prod"');
    expect(shownJob).toMatch(/Job hash[\s\S]*[0-9a-f]{64}/);
    expect(await jobModal.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await screenshot(jobModal, 'view-job.png');
    await jobModal.getByRole('button', { name: 'Close', exact: true }).click();
    await jobModal.waitFor({ state: 'detached' });

    await actAs('Mallory');
    await approveCard(card);
    const refusal = page.locator('#messages article.ephemeral').filter({ hasText: 'You are not one of the approvers' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('Only visible to you');
    expect(await card.getByRole('button', { name: 'Approve', exact: true }).count()).toBe(1);

    await actAs('Alice');
    await approveCard(card);
    await expect.poll(() => card.textContent()).toContain('Approved by @Alice');
    expect(await card.locator('.bk-header').textContent()).toBe('✅ Approved');
    expect(await card.locator('.bk-context').first().textContent()).toBe('incident-triage › remediate');
    expect(await card.getByRole('button', { name: 'Approve', exact: true }).count()).toBe(0);
    const decision = page.locator('#decisions .decision-approved');
    await decision.waitFor();
    await decision.locator('summary').click();
    const data = JSON.parse((await decision.locator('pre').textContent())!) as { decision: string; decided_by: { id: string }; step_id: string };
    expect(data).toMatchObject({ decision: 'approved', decided_by: { id: 'U0ALICE' }, step_id: 'remediate' });
    await screenshot(card, 'card-approved.png');
    await page.screenshot({ path: `${OUTPUT}/page.png` });
  });

  it('lists what is pending with /approvals, and a policy change ends a pending card as stale', async () => {
    await actAs('Bob');
    const card = await requestSample('Network egress (anyone may approve)', 'C0APPROVALS', 'Download the monthly usage report');

    await page.fill('#composer-text', '/approvals');
    await page.press('#composer-text', 'Enter');
    const list = page.locator('#messages article.ephemeral').filter({ hasText: 'fetch-report' });
    await list.waitFor();
    await page.locator('#channel-list a[data-channel="C0INCIDENT42"]').click();
    await list.waitFor({ state: 'detached' });
    await page.fill('#composer-text', '/approvals');
    await page.press('#composer-text', 'Enter');
    // Listed from #incident-42, the card is elsewhere: its permalink opens #approvals in the page.
    const listHere = page.locator('#messages article.ephemeral').filter({ hasText: 'fetch-report' });
    await listHere.getByRole('link', { name: 'open the card' }).last().click();
    await card.waitFor();

    await page.getByRole('button', { name: 'Change policy' }).click();
    await expect.poll(() => card.textContent(), { timeout: 15_000 }).toContain('Not decided: the policy changed');
    await page.locator('#decisions .decision-stale').waitFor();
  });

  it('approves with a comment and the typed step id through the overflow menu and its modal, counts 1 of 2, refuses a guest, and a second approver decides', async () => {
    await actAs('Carol');
    const card = await requestSample('Secrets access (security team, 2 approvals)', 'C0SECURITY', 'Read the payments API key');

    await card.locator('select.bk-overflow').selectOption({ label: 'Approve with comment…' });
    const modal = page.locator('#modal-layer form.modal');
    await modal.waitFor();
    expect(await modal.textContent()).toContain('"path": "secret/data/payments/api-key"');
    await modal.locator('textarea').fill('Rotation ticket SEC-7 checked');
    await modal.locator('input[type=text]').fill('rotate-credential');
    await modal.getByRole('button', { name: 'Approve', exact: true }).click();
    // The secrets route asks for the step id typed: a wrong one is an error in the modal.
    await modal.locator('.bk-error', { hasText: 'that is not the step id' }).waitFor();
    await modal.locator('input[type=text]').fill('rotate-credentials');
    await modal.getByRole('button', { name: 'Approve', exact: true }).click();
    await modal.waitFor({ state: 'detached' });
    await card.locator('.reply').filter({ hasText: '@Carol approved: 1 of 2: “Rotation ticket SEC-7 checked”' }).waitFor();

    await actAs('Gina');
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.locator('#messages article.ephemeral').filter({ hasText: 'Guests cannot decide approvals' }).waitFor();

    await actAs('Dave');
    await card.getByRole('button', { name: 'Approve', exact: true }).click();
    await modal.waitFor();
    await modal.locator('input[type=text]').fill('rotate-credentials');
    await modal.getByRole('button', { name: 'Approve', exact: true }).click();
    await expect.poll(() => card.textContent()).toContain('Approved (2 approvals) by @Carol, @Dave');
  });

  it('escalates a card nobody decides: the route’s people are mentioned once in its thread', async () => {
    await actAs('Mallory');
    const card = await requestSample('Network egress (anyone may approve)', 'C0APPROVALS', 'Download the monthly usage report');
    // The sandbox's default route escalates after 20 s.
    const escalation = card.locator('.reply').filter({ hasText: 'nobody has decided this approval' });
    await escalation.waitFor({ timeout: 40_000 });
    expect(await escalation.textContent()).toContain('@oncall');
    expect(await escalation.count()).toBe(1);
    await screenshot(card, 'card-escalated.png');
  }, 60_000);

  it('keeps the oversized sample’s card compact: the long reason, the job and the constraints are cut', async () => {
    const card = await requestSample('Oversized request (cut to Slack limits)', 'C0PRODAPPROVALS', 'Normalise customer addresses');
    const box = await card.boundingBox();
    // In a 1,400 px wide page: about 1,400 px tall before the card's own limits, 1,073 px with them.
    console.info(`oversized card: ${Math.round(box!.height)} px tall`);
    await screenshot(card, 'card-oversized.png');
    expect(box!.height).toBeLessThan(1150);
    expect(await card.textContent()).toMatch(/and \d+ more/);
    expect(await card.textContent()).toContain('the rest under View job');
  });

  it('shows hostile text as text: no mention, link or HTML from the request takes effect', async () => {
    const card = await requestSample('Hostile text (escaped, not obeyed)', 'C0APPROVALS', 'rm -rf');
    await screenshot(card, 'card-hostile.png');
    expect(await card.locator('a[href*="evil.example"]').count()).toBe(0);
    expect(await card.locator('script').count()).toBe(0);
    expect(await card.locator('.mention').filter({ hasText: /@(here|channel|everyone)/ }).count()).toBe(0);
    expect(await card.textContent()).toContain('<script>alert(1)</script>');
  });

  it('leaves the channel room to read a card on a narrow window (800 px)', async () => {
    const narrow = await browser.newPage({ viewport: { width: 800, height: 900 } });
    try {
      await narrow.goto(sandbox.url);
      await narrow.locator('#connection', { hasText: /^live$/ }).waitFor();
      const channel = await narrow.locator('main.channel').boundingBox();
      expect(channel!.width).toBeGreaterThanOrEqual(520);
      // The engine panel is still on the page, below the channel.
      expect(await narrow.locator('aside.engine').isVisible()).toBe(true);
      await narrow.screenshot({ path: `${OUTPUT}/page-800.png` });
    } finally {
      await narrow.close();
    }
  });
});

