import { Migration } from '@mikro-orm/migrations';

/**
 * The delivery feed is at least once: a task it hands out is `sent` until the client confirms
 * receipt (a later cursor or the receipt call), and only then `delivered`.
 */
export class Migration20261203120000_feed_receipts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table tasks drop constraint tasks_delivery_status_check;`);
    this.addSql(`alter table tasks add constraint tasks_delivery_status_check check (delivery_status in ('pending', 'delivering', 'sent', 'delivered', 'failed'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`update tasks set delivery_status = null where delivery_status = 'sent';`);
    this.addSql(`alter table tasks drop constraint tasks_delivery_status_check;`);
    this.addSql(`alter table tasks add constraint tasks_delivery_status_check check (delivery_status in ('pending', 'delivering', 'delivered', 'failed'));`);
  }
}
